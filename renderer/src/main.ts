import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { createLabClient } from './lab/labClient';
import { useLabStore } from './stores/labStore';
import './styles.css';

const pinia = createPinia();
const app = createApp(App).use(pinia);
useLabStore(pinia).attach(createLabClient());
app.mount('#app');
