import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { createLabClient } from './api/labClient';
import { attachLab } from './stores/attach';
import './styles.css';

const pinia = createPinia();
const app = createApp(App).use(pinia);
attachLab(createLabClient());
app.mount('#app');
